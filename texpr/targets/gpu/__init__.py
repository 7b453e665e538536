"""GPU targets: CUDA and OpenCL emitters, their build and runtimes."""
