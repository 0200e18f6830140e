from . import notifications
