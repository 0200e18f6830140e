from . import mail_scanner_azure_app
from . import mail_scanner_folder
from . import mail_scanner_mailbox
from . import mail_scanner_message
from . import res_config_settings
from . import mail_scanner_rule
from . import mail_scanner_rule_condition
from . import mail_scanner_extraction
