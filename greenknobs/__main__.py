from greenknobs.search._cli import main

raise SystemExit(main())
