"""The console's HTML pages, one module per area, each with ``router = APIRouter()``."""
