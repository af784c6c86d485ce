"""What every study shares: io, distributed runs, metrics, the trainer, the sweep runner, the command line,
reports and plots. It imports no study: studies hand it a ``study.Study``."""
