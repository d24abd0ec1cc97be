"""``LLMObsClient``'s methods, one module per endpoint family, on a shared base."""
