"""The database: engine and schema version, the tables, and the data functions that every
stage calls with the session it was given.
"""
