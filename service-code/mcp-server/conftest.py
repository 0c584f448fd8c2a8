import sys
from pathlib import Path

# The service's `app` package, as it sits at /srv/app in the image.
sys.path.insert(0, str(Path(__file__).parent))
