"""What a person does in the console, as functions over one session: each calls the core
service the command line uses and records the change in the audit log, in one transaction."""
