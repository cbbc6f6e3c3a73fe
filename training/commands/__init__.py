"""One module per `recsys` command; helpers they share live in `recsys_training.commands.common`."""
