"""`llamadoctor convert`: Meta checkpoints to Hugging Face format, or to another number of Meta shards.

`convert` plans and streams a conversion, `source` checks the checkpoint against its params.json, `writers`
write one tensor at a time, `hf` makes the Hugging Face configs and tokenizer, `output` guards and swaps the
output folder, `cli` is the command. Importing this package stays cheap (torch only in `convert` and below).
"""
