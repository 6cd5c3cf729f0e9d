"""Request authentication that is more than a static key header: AWS SigV4, Bedrock API keys."""
