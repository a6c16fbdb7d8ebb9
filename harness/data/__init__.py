"""The questions: datasets read from the data directory, the generated geo tasks, and how a question is asked."""
