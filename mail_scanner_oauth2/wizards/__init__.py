from . import mail_scanner_rule_test
