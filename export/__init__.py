"""livegen_train: the PyTorch side of livegen (corpus, tokens in windows, training, ONNX export, evaluation).

The repository folder ``export/`` installs as this package; the runtime (``livegen``) never imports it.
"""
