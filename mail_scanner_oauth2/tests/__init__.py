from . import test_azure_app
from . import test_mailbox
from . import test_sync
from . import test_threading
from . import test_security
from . import test_concurrency
