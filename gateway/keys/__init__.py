"""The gateway's own keys, kept as files in its data directory: the master and yearly data keys that
pseudonymise and encrypt pupils' identities (`store`), the audit log's tree-head signing keys
(`signing`), and the development identity provider's token-signing key (`idp`)."""
