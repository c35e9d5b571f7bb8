"""The core's tasks, registered through ``register_tasks`` like a plugin's: ``sisr``
(:mod:`.sisr`) and ``regression`` (:mod:`.regression`); :mod:`.base` is what every task builds on."""
