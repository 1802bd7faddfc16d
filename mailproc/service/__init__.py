"""Running the desk: the command line, the poller, the scheduler, status, metrics and logs."""
