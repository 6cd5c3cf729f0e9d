"""Request authentication beyond a static key header: AWS SigV4 and Bedrock API keys (``sigv4``), and OAuth /
Microsoft Entra ID bearer tokens refreshed before expiry (``tokens``; built by ``azure`` from azure-identity and by
``google`` from google-auth). Each heavy library (botocore, azure-identity, google-auth) is imported only when used.
"""
