"""Progress where no bar is shown: periodic log lines, so that a long phase is never silent."""

import pytest

from netdiffus.progress import trace_bar, train_bar


@pytest.mark.parametrize("every_s, steps, lines", [
    (0.0, [4, 4, 2], ["draw: 4 of 10 traces (0 s)", "draw: 8 of 10 traces (0 s)", "draw: 10 traces in 0 s"]),
    (3600.0, [4, 4, 2], []),  # a phase shorter than the period says nothing
])  # fmt: skip
def test_a_draw_off_a_terminal_logs_how_far_it_is(caplog, every_s, steps, lines):
    with caplog.at_level("INFO", logger="netdiffus.progress"):
        progress = trace_bar(10, "draw", bar=False, every_s=every_s)
        for k in steps:
            progress.update(k)
        progress.close()
    assert [r.getMessage() for r in caplog.records] == lines


@pytest.mark.parametrize("every_s, lines", [
    (0.0, ["train: step 1 of 3, loss 0.5000 (0 s)", "train: step 2 of 3, loss 0.2500 (0 s)", "train: 3 steps in 0 s"]),
    (3600.0, []),
])  # fmt: skip
def test_training_off_a_terminal_logs_how_far_it_is(caplog, every_s, lines):
    from netdiffus.training import TrainProgress

    callback = train_bar(3, bar=False, every_s=every_s)
    with caplog.at_level("INFO", logger="netdiffus.progress"):
        for step, loss in ((1, 0.5), (2, 0.25), (3, 0.125)):
            callback(TrainProgress(step=step, steps=3, loss=loss, lr=1e-3, images_per_s=10.0))
    assert [r.getMessage() for r in caplog.records] == lines
