"""nbdev_proc_nbs without its attempt to download quarto and `pip install -e` the project."""
import nbdev.doclinks
from nbdev.config import get_config
from nbdev.quarto import nbdev_sidebar, refresh_quarto_yml
from nbdev.serve import proc_nbs

if __name__ == "__main__":
    cfg = get_config()
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    proc_nbs(cfg.nbs_path, n_workers=2)
