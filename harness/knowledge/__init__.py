"""What a model knows: the knowledge query (correctness, certainty, flow) and the building blocks of training-set construction."""
