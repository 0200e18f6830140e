from . import mail_scanner_azure_app
from . import mail_scanner_folder
from . import mail_scanner_mailbox
from . import mail_scanner_message
from . import res_config_settings
