DROP TABLE account_epochs;
