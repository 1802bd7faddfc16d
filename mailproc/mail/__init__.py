"""Reading one mail, pure: raw bytes to an InboundMessage.

Also what the mail itself tells: machine mail, forwards, codes in the subject, the
sender-authentication verdict, quoted text, safe HTML and file names. Imports nothing
from storage or the network.
"""
