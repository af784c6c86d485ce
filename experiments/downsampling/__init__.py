"""The downsampling study: what max pooling buys a CNN against a strided convolution, subsampling and no
downsampling, on MNIST-1D and on 2-D digits (see experiments/README.md)."""
