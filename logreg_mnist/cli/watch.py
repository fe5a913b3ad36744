"""What a training loop looks out for besides its algorithm."""
import numpy

from ..engine import host_array
from ..errors import TrainingInterrupted, TrainingStopped
from .progress import StatusLine


class Watch(object):
    """What the loop looks out for besides the algorithm: a cost that
    became NaN or infinite (a learning rate too large), Ctrl-C or SIGTERM
    (``stop``), and a live progress line on a terminal.

    Reading a cost back from a GPU waits for the device, so the costs are
    kept where they are and looked at together (``check``), before each
    validation and at the end: no model with NaN weights is ever saved.
    """

    def __init__(self, stop, learning_rate, run, n_train_batches):
        self.stop = stop
        self.learning_rate = learning_rate
        self.run = run
        self.n_train_batches = n_train_batches
        self.status = StatusLine()
        self.costs = []
        self.checked = 0   # steps before self.costs[0]
        self.mean_cost = None   # of the steps checked last (the history)
        self.where = None   # the last step, in words

    def step(self, cost, epoch, minibatch_index):
        """Take note of a step's cost; show it now and then."""
        self.costs.append(cost)
        self.where = 'at epoch %i, minibatch %i/%i' % (
            epoch, minibatch_index + 1, self.n_train_batches)
        if self.status.enabled and self.status.due():
            self.status.update('epoch %i: minibatch %i/%i, cost %.4f' % (
                epoch, minibatch_index + 1, self.n_train_batches, cost))

    def check(self):
        """Raise TrainingStopped, naming the step, if a cost since the last
        check is not finite."""
        self.status.clear()
        costs = host_array(self.costs)
        bad = numpy.flatnonzero(~numpy.isfinite(costs))
        first = self.checked
        self.checked += len(self.costs)
        self.costs = []
        if not len(bad):
            self.mean_cost = float(costs.mean()) if len(costs) else None
        else:
            epoch, minibatch_index = divmod(first + int(bad[0]),
                                            self.n_train_batches)
            raise TrainingStopped(
                'the cost became %s at epoch %i, minibatch %i/%i: the '
                'learning rate %g is too large; %s' % (
                    costs[bad[0]], epoch + 1, minibatch_index + 1,
                    self.n_train_batches, self.learning_rate,
                    self.run.what_is_saved()))

    def stop_if_asked(self):
        """Raise TrainingInterrupted if Ctrl-C or SIGTERM asked to stop
        (TrainingStopped if the cost diverged before)."""
        if self.stop:
            self.check()
            raise TrainingInterrupted('training interrupted %s; %s' % (
                self.where, self.run.what_is_saved()))
