"""Deciding about one message, pure: a parsed message and the ticket it refers to in,
one Decision out (commands, staff directives, ratings and ticket states included).
"""
