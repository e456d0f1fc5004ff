import errno

import torch

from llmkit.errors import ResourceError
from llmkit.train.lifecycle import as_resource_error


def test_out_of_memory_maps_to_exit_6_with_a_fix():
    error = as_resource_error(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert isinstance(error, ResourceError) and error.exit_code == 6
    assert "per_device_train_batch_size" in str(error)


def test_disk_full_maps_to_exit_6_and_names_the_file():
    error = as_resource_error(OSError(errno.ENOSPC, "No space left on device", "/runs/x/optimizer.pt"))
    assert isinstance(error, ResourceError) and "optimizer.pt" in str(error)


def test_other_errors_are_left_alone():
    assert as_resource_error(ValueError("bad")) is None
    assert as_resource_error(OSError(errno.EACCES, "denied")) is None
