"""torchvision's DataLoader alone on a folder of images, as bench_loader measures tandem's:
ImageFolder (PIL decode) + the same transforms, the same batch and worker count, sampler order,
first epoch not counted. Prints "images_per_s N".

  python3 bench/torch_loader.py SPLIT_DIR WORKERS BATCH EPOCHS train|val
"""
import sys
import time

import torch
from torchvision import datasets, transforms


def main():
    split_dir, workers, batch, epochs, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    torch.set_num_threads(1)
    normalize = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    if mode == "train":
        t = [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip()]
    else:
        t = [transforms.Resize(256), transforms.CenterCrop(224)]
    dataset = datasets.ImageFolder(split_dir, transforms.Compose(t + [transforms.ToTensor(), normalize]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=workers,
                                         persistent_workers=workers > 0)
    seconds, images = 0.0, 0
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        n = 0
        for x, _ in loader:
            n += x.shape[0]
        if epoch == 0:
            continue  # warm-up
        seconds += time.perf_counter() - start
        images += n
    print("images_per_s %.1f" % (images / seconds))


if __name__ == "__main__":
    main()
