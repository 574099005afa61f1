"""What a network accepts, declared by the network class itself.

Every network class has a ``requirements(**kwargs)`` classmethod that answers, from its
constructor arguments alone (nothing is built), which values some arguments may take
(``choices``: e.g. SRResNet's ``scale``, DCGAN's ``image_size``) and which input images it takes
(``input_multiple``, ``min_input_size``). The constructor and ``forward`` use the same constants,
so the declaration cannot drift from the behaviour; ``translate.nets.check_network`` turns it into
one clear ConfigError for a training config before any data is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NetworkRequirements:
    """Limits of one network for given constructor arguments.

    ``choices``: constructor argument -> the values it accepts (only arguments with a closed set).
    ``input_multiple``: image inputs must have height and width divisible by this.
    ``min_input_size``: smallest height/width of an image input (a multiple of ``input_multiple``).
    Networks without image input (DCGAN's generator) keep the defaults.
    """

    choices: dict[str, tuple] = field(default_factory=dict)
    input_multiple: int = 1
    min_input_size: int = 1
