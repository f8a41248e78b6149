"""Log text that several failures' examples share: the noise around an error, and healthy runs."""

from __future__ import annotations

# A traceback's last lines as torchrun prints them for a failed rank: the noise around most load failures.
TORCHRUN_TAIL = (
    "ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: 1) local_rank: 0 (pid: 4121) of binary:"
    " /home/ada/miniconda3/envs/llama/bin/python\n"
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n"
)
HEALTHY_META_LOAD = (
    "> initializing model parallel with size 1\n"
    "> initializing ddp with size 1\n"
    "> initializing pipeline with size 1\n"
    "Loaded in 9.84 seconds\n"
    "User: what is the recipe of mayonnaise?\n"
)
HEALTHY_HF_LOAD = (
    "Loading checkpoint shards: 100%|██████████| 2/2 [00:04<00:00,  2.21s/it]\n"
    "generation_config.json: 100%|██████████| 188/188 [00:00<00:00, 1.20MB/s]\n"
    "Setting `pad_token_id` to `eos_token_id`:2 for open-end generation.\n"
)
