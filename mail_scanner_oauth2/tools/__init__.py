from . import mail_facts
from . import protections
