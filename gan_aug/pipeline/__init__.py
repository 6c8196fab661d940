"""The top floor: the runner, its content-fingerprinted stages, the classifier
stage and the validation of a whole config."""
