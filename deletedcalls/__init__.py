"""deletedcalls: the audit trail of deleted call records of a telecom billing platform."""

__version__ = "0.1.0"
