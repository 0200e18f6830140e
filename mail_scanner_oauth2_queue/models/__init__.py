from . import mail_scanner_mailbox
