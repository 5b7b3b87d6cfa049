"""The classic small image classifier: (conv → ReLU → max-pool) × 2 → linear."""
from tinygrad_edu import nn


class ConvNet(nn.Module):
    """For (N, 1, 8, 8) digits by default; `image_size=28` for MNIST.

    conv 1→16 (3×3, pad 1) → ReLU → pool 2 → conv 16→32 (3×3, pad 1) → ReLU → pool 2 → linear to classes.
    """

    def __init__(self, in_channels=1, num_classes=10, image_size=8, channels=(16, 32)):
        super().__init__()
        first, second = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, first, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(first, second, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Linear(second * side * side, num_classes)

    def forward(self, images):
        batch = images.shape[0]
        features = self.features(images)  # (N, 32, H/4, W/4)
        return self.classifier(features.reshape(batch, -1))  # (N, classes)
