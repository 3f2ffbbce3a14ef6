"""One certification run: its inputs bound by their hashes (inputs, model), what checks see (context), what the
ledger records of it (records: status, sign-off state, the documents' data) and the run itself (pipeline: start,
stages, gate, sign-off, decision). The public names are re-exported by `certification`."""
