"""``python -m realtime`` and the ``vqe`` command: tune the process, then run the command line."""


def main() -> None:
    """Entry point: the process-wide tuning comes before NumPy and the kernels load."""
    from realtime.run.process import tune_process

    tune_process()
    from realtime.cli import entry

    entry()


if __name__ == "__main__":
    main()
