"""Files: the one way in (``reading``, ``pickles``), the one way out
(``writing``), and what is read and written through them: model files,
training histories, the MNIST download."""
