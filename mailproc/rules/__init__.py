"""The operator's rules files, pure: themes compiled from rules/*.toml, and the checks
of the attachments and answers each theme requires.
"""
