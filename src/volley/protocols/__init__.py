"""Wire formats: pure mappings between OpenAI-shape chat requests/answers and one provider API."""
