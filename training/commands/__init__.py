"""One module per `recsys` command; helpers they share live in `training.commands.common`."""
