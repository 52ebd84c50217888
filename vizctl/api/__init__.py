"""The ModelArts API side: HTTP transport, client, authentication, signing, IAM, endpoints, settings."""
