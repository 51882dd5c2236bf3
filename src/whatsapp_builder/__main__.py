from whatsapp_builder.cli import main

main()
