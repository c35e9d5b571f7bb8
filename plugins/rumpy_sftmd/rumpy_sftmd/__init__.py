"""rumpy plugin for SFTMD (Gu et al., CVPR 2019); its model registers once implemented."""
