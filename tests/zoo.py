"""Seven widely used public CNNs, written from their published definitions (the layer
structure and forward code as their authors publish them; widths and input sizes are
parameters so tests can run them small). Used by tests/test_architectures.py to check that
users' networks compile unchanged.

- ``MnistExample``: the PyTorch examples repository's MNIST network (examples/mnist/main.py),
  ending in ``F.log_softmax``.
- ``CNV``: FINN's / Brevitas' CNV topology (Umuroglu et al., FINN; brevitas_examples
  bnn_pynq CNV): 3x3 convs 64-64-pool-128-128-pool-256-256, then Linear 512-512-classes,
  each Linear followed by BatchNorm1d, Hardtanh activations (the float stand-in for its
  quantized activations).
- ``resnet20(option)``: He et al.'s CIFAR ResNet-20 as in akamaster/pytorch_resnet_cifar10
  (``BasicBlock`` with ``out += self.shortcut(x)``, option A: ``LambdaLayer`` of
  ``F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0)``;
  option B: 1x1 conv + BatchNorm; head ``F.avg_pool2d(out, out.size()[3])``).
- ``MobileNetV2``: torchvision's MobileNetV2 structure (inverted residuals ``x + conv(x)``,
  ReLU6, depthwise 3x3, ``adaptive_avg_pool2d(x, (1, 1))``), CIFAR stride.
- ``SqueezeNet11``: torchvision's SqueezeNet 1.1 (Fire modules with ``torch.cat``,
  ``MaxPool2d(3, 2, ceil_mode=True)``, a conv classifier and ``AdaptiveAvgPool2d((1, 1))``).
- ``AlexNet``: torchvision's AlexNet (conv 11 stride 4, ``MaxPool2d(3, 2)``,
  ``AdaptiveAvgPool2d((6, 6))``, Dropout and three Linear layers).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class MnistExample(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


class CNV(nn.Module):
    def __init__(self, classes: int = 10, width: float = 1.0, in_ch: int = 3):
        super().__init__()
        ch = [int(c * width) for c in (64, 64, 128, 128, 256, 256)]
        fc = [int(512 * width)] * 2
        layers, c = [], in_ch
        for i, o in enumerate(ch):
            layers += [nn.Conv2d(c, o, 3, bias=False), nn.BatchNorm2d(o), nn.Hardtanh()]
            if i in (1, 3):
                layers.append(nn.MaxPool2d(2))
            c = o
        self.features = nn.Sequential(*layers)
        head, f = [], c
        for o in fc:
            head += [nn.Linear(f, o, bias=False), nn.BatchNorm1d(o), nn.Hardtanh()]
            f = o
        head += [nn.Linear(f, classes, bias=False), nn.BatchNorm1d(classes)]
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        x = 2.0 * x - torch.tensor([1.0], device=x.device)  # as brevitas' CNV: inputs to [-1, 1]
        x = self.features(x)
        x = x.view(x.shape[0], -1)
        return self.classifier(x)


class LambdaLayer(nn.Module):
    def __init__(self, lambd):
        super().__init__()
        self.lambd = lambd

    def forward(self, x):
        return self.lambd(x)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1, option="A"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            if option == "A":
                self.shortcut = LambdaLayer(lambda x: F.pad(
                    x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0))
            elif option == "B":
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False),
                    nn.BatchNorm2d(self.expansion * planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        out = F.relu(out)
        return out


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10, option="A", width=16, in_ch=3):
        super().__init__()
        self.in_planes = width
        self.conv1 = nn.Conv2d(in_ch, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make_layer(block, width, num_blocks[0], 1, option)
        self.layer2 = self._make_layer(block, 2 * width, num_blocks[1], 2, option)
        self.layer3 = self._make_layer(block, 4 * width, num_blocks[2], 2, option)
        self.linear = nn.Linear(4 * width, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride, option):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for s in strides:
            layers.append(block(self.in_planes, planes, s, option))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = F.avg_pool2d(out, out.size()[3])
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out


def resnet20(option="A", num_classes=10, width=16, in_ch=3, blocks=3):
    return ResNet(BasicBlock, [blocks] * 3, num_classes, option, width, in_ch)


class ConvBNReLU(nn.Sequential):
    def __init__(self, in_planes, out_planes, kernel_size=3, stride=1, groups=1):
        padding = (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_planes),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden_dim, kernel_size=1))
        layers.extend([
            ConvBNReLU(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
            nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        ])
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes=10, width_mult=1.0, in_ch=3, setting=None, first_stride=1):
        super().__init__()
        input_channel, last_channel = int(32 * width_mult), int(1280 * max(1.0, width_mult))
        setting = setting or [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                              [6, 160, 3, 2], [6, 320, 1, 1]]
        features = [ConvBNReLU(in_ch, input_channel, stride=first_stride)]
        for t, c, n, s in setting:
            output_channel = int(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t))
                input_channel = output_channel
        features.append(ConvBNReLU(input_channel, last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last_channel, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


class Fire(nn.Module):
    def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet11(nn.Module):
    def __init__(self, num_classes=10, width: float = 1.0, in_ch=3):
        super().__init__()

        def w(c):
            return max(1, int(c * width))

        self.features = nn.Sequential(
            nn.Conv2d(in_ch, w(64), kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(w(64), w(16), w(64), w(64)),
            Fire(w(128), w(16), w(64), w(64)),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(w(128), w(32), w(128), w(128)),
            Fire(w(256), w(32), w(128), w(128)),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(w(256), w(48), w(192), w(192)),
            Fire(w(384), w(48), w(192), w(192)),
            Fire(w(384), w(64), w(256), w(256)),
            Fire(w(512), w(64), w(256), w(256)),
        )
        final_conv = nn.Conv2d(w(512), num_classes, kernel_size=1)
        self.classifier = nn.Sequential(nn.Dropout(p=0.5), final_conv, nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        x = self.features(x)
        x = self.classifier(x)
        return torch.flatten(x, 1)


class AlexNet(nn.Module):
    def __init__(self, num_classes=1000, width: float = 1.0, in_ch=3, dropout=0.5):
        super().__init__()

        def w(c):
            return max(1, int(c * width))

        self.features = nn.Sequential(
            nn.Conv2d(in_ch, w(64), kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(w(64), w(192), kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(w(192), w(384), kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w(384), w(256), kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w(256), w(256), kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(w(256) * 6 * 6, w(4096)),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(w(4096), w(4096)),
            nn.ReLU(inplace=True),
            nn.Linear(w(4096), num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random running statistics and affine parameters, so folding is
    exercised (fresh BNs are the identity)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_((torch.rand(n, generator=g) - 0.5) * 0.4)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_((torch.rand(n, generator=g) - 0.5) * 0.4)
    return model.eval()
