"""rumpy plugin for RCAN (Zhang et al., ECCV 2018); its model registers once implemented."""
