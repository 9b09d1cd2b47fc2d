from greenknobs.search.cli import main

raise SystemExit(main())
