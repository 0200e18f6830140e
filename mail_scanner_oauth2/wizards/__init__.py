from . import mail_scanner_rule_test
from . import mail_scanner_ticket_field
