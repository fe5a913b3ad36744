"""The tutorial's settings, each stated once: the functions take them as
their defaults and the command lines show them as theirs."""

#: Minibatch SGD: the step size, the examples per step, the most epochs.
LEARNING_RATE = 0.13
BATCH_SIZE = 600
N_EPOCHS = 1000

#: Conjugate gradient (``logistic_cg.py``): the most iterations.
CG_ITERATIONS = 50

#: The tutorial's dataset, and where the best model is saved.
DATASET = 'mnist.pkl.gz'
MODEL = 'best_model.pkl'
