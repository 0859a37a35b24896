"""A small built-in thesaurus of everyday topics, for lexical relevance without embeddings.

Plain word overlap misses most of what makes a belief relevant: "I have a nut allergy" shares
no word with "what local dishes should I try?". Both, though, are about food. Each entry below
names a topic field (``food``) or a narrower one (``food.nuts``) and the words that belong to
it; relevance.py adds the fields of every word to both sides, so the two meet on ``food``, and
"any good pesto recipes?" meets the allergy on ``food.nuts`` too.

The lists are general knowledge of the domains a personal assistant hears about (meals,
travel, media, work, home, health, money, tech...), written by hand, not drawn from any
evaluation set. Words are given in plain form; relevance.py stems them the same way it stems
text. A word may sit in several fields. Keep fields broad enough to generalize and narrow
enough to tell a seafood allergy from a gluten intolerance.
"""

from __future__ import annotations

FIELDS: dict[str, str] = {
    # Food and drink.
    "food": "food foods eat eating eats ate meal meals dish dishes cuisine cuisines cook cooking"
    " cooked recipe recipes restaurant restaurants cafe cafes bistro diner eatery dining dine"
    " menu chef lunch dinner breakfast brunch snack snacks taste tasty flavor flavour delicious"
    " ingredient ingredients diet dietary nutrition nutritional foodie buffet kitchen"
    " bake baking baked grill grilled fry fried roast roasted takeout delivery"
    " groceries grocery supermarket consume consuming intolerance intolerant allergy allergic"
    " vegan vegetarian pescatarian halal kosher keto paleo organic culinary gastronomy"
    " gastronomic carb carbs carbohydrates",
    "food.meat": "meat meats beef pork chicken lamb bacon steak sausage ham turkey burger burgers"
    " bbq barbecue poultry veal duck mutton jerky pepperoni salami meatball carnivore halal"
    " kosher gelatin brisket ribs kebab",
    "food.seafood": "seafood fish shellfish shrimp prawn prawns crab lobster oyster oysters clam"
    " clams mussel mussels salmon tuna sushi sashimi ceviche poke anchovy anchovies squid"
    " octopus scallop scallops cod pescatarian",
    "food.dairy": "dairy milk cheese butter cream yogurt yoghurt lactose latte cappuccino gelato"
    " mozzarella parmesan cheesy creamy whey casein pizza fondue",
    "food.gluten": "gluten wheat bread breads pasta flour bakery bakeries pastry pastries"
    " croissant croissants barley rye noodles pizza cake cakes cookie cookies cereal celiac"
    " coeliac bagel sandwich sandwiches dumplings beer baguette crackers carb carbs"
    " carbohydrates",
    "food.nuts": "nut nuts peanut peanuts almond almonds cashew cashews walnut walnuts pecan"
    " pistachio hazelnut hazelnuts satay pesto praline marzipan nutella",
    "food.plant": "vegan vegetarian plant tofu tempeh vegetable vegetables veggie"
    " veggies salad salads legume legumes bean beans lentil lentils falafel hummus seitan"
    " raw fruit fruits",
    "food.spicy": "spicy spice spices chili chilli pepper peppers jalapeno curry"
    " szechuan sichuan salsa mild",
    "food.sweet": "sugar sugary sweet sweets dessert desserts candy chocolate cake cakes pastry"
    " honey syrup",
    "food.drink": "drink drinks drinking beverage beverages alcohol alcoholic wine wines beer"
    " beers cocktail cocktails liquor spirits bar bars pub pubs brewery winery sober coffee"
    " tea juice soda caffeine",
    # Travel.
    "travel": "travel travels traveling travelling traveler trip trips vacation vacations"
    " holiday holidays visit visiting visitor tour tours touring tourist tourists destination"
    " destinations abroad itinerary sightseeing getaway journey explore exploring staycation"
    " backpacking passport luggage",
    "travel.lodging": "hotel hotels hostel hostels resort resorts accommodation accommodations"
    " motel inn lodge airbnb bnb suite stay staying amenities"
    " concierge boutique",
    "travel.transport": "transport transportation transit flight flights fly flying airline"
    " airlines airport plane train trains rail railway bus buses car cars rental rent taxi"
    " taxis uber lyft ride rides rideshare drive driving subway metro ferry"
    " cruise commute commuting vehicle vehicles scooter bike bikes cycling shuttle",
    # Media and leisure.
    "music": "music musical song songs album albums artist artists band bands genre playlist"
    " gig gigs venue venues arena arenas stadium stadiums performance performances"
    " playlists concert concerts listen listening pop rock jazz classical rap country"
    " metal edm electronic techno indie folk blues opera singer singers guitar piano vinyl"
    " spotify radio dance dancing melody lyrics orchestra soundtrack",
    "reading": "book books novel novels author authors read reading reader fiction nonfiction"
    " page pages paperback hardcover chapter chapters novella storytelling plot plots"
    " bookstore bookshop"
    " literature poetry poem poems memoir biography kindle audiobook audiobooks"
    " library publisher published bestseller bestsellers thriller mystery fantasy"
    " romance comic comics manga",
    "screen": "movie movies film films cinema show shows series tv television episode episodes"
    " season seasons watch watching streaming netflix documentary documentaries drama dramas"
    " comedy comedies horror thriller thrillers animation animated anime actor actors director"
    " sitcom sitcoms reality binge sequel blockbuster superhero",
    "games": "game games gaming gamer console playstation xbox nintendo"
    " puzzle puzzles chess esports",
    "sport": "sport sports match matches team teams league football soccer basketball baseball"
    " adventure adventures adventurous thrill thrills thrilling adrenaline extreme daredevil"
    " skydiving bungee paragliding rafting zipline ziplining surfing scuba snorkeling diving"
    " climbing bouldering parkour skateboarding motocross boxing wrestling martial arena"
    " arenas stadium stadiums gear equipment"
    " tennis golf hockey cricket rugby racing motorsport formula nascar olympics athlete"
    " athletes stadium fan fans tournament championship event events ticket tickets",
    "fitness": "fitness workout workouts exercise exercises gym training train run running"
    " runner marathon jog jogging cardio yoga pilates hiking hike cycling swim swimming lift"
    " lifting weights strength stretch stretching active activity athletic endurance"
    " performance protein",
    "outdoors": "outdoor outdoors nature hike hiking trail trails camping camp park parks"
    " adventure adventurous thrill thrilling wilderness cave caves caving canyon cliff cliffs"
    " river rivers rafting surfing scuba snorkeling diving"
    " mountain mountains beach beaches ocean sea lake forest garden gardening"
    " wildlife kayak climbing fishing ski skiing snowboard patio",
    "arts": "art arts museum museums gallery galleries painting paintings theater theatre"
    " history historic historical culture cultural architecture heritage sculpture opera"
    " photography",
    "nightlife": "nightlife party parties club clubs clubbing bar bars pub"
    " casino casinos gamble gambling betting bet bets poker slots lively"
    " gambling crowd crowds crowded noisy noise bustling festival festivals",
    # Shopping, fashion, home.
    "fashion": "fashion fashionable clothing clothes wear wearing outfit outfits wardrobe style"
    " apparel gear sneaker athleisure"
    " stylish dress dresses shirt shirts jacket jackets coat coats pants trousers jeans shoe"
    " shoes boots sneakers bag bags handbag handbags accessory accessories jewelry jewellery"
    " fabric fabrics cotton wool silk leather linen polyester pattern patterns floral colors"
    " colours designer brand brands fit tailored minimalist vintage",
    "home": "home house apartment flat room rooms kitchen bedroom bathroom furniture"
    " upholstery upholstered rattan wicker scent scents scented smell smells fragrance"
    " fragranced candle candles diffuser freshener"
    " decor decoration sofa couch chair chairs table tables bed rug rugs carpet curtain"
    " curtains lighting lamp lamps wall walls paint wallpaper floor floors flooring appliance"
    " appliances renovate renovating renovation interior cozy patio garden household"
    " wood wooden steel marble textiles",
    "shopping": "shop shopping store stores buy buying purchase purchases product products"
    " brand brands online order gift gifts deal deals sale retail",
    # Life.
    "work": "work working job jobs career careers office remote hybrid company employer"
    " colleague colleagues coworker boss manager meeting meetings salary interview resume"
    " promotion industry startup freelance business client clients project projects"
    " deadline deadlines profession professional workplace hire hiring marketing",
    "place": "city cities town towns neighborhood neighbourhood suburb suburbs rural urban"
    " location locations crime safety safe unsafe dangerous nightlife"
    " downtown place places move moving relocate relocating rent housing population crowded"
    " dense density quiet traffic congestion commute area areas region",
    "climate": "weather climate climates hot cold heat humid humidity warm cool temperature"
    " arid dry desert deserts temperate mild hurricane hurricanes tornado tornadoes storm"
    " storms monsoon freezing chilly sunshine"
    " sunny sun rain rainy snow winter summer spring fall autumn season seasons tropical",
    "health": "health healthy doctor medical medicine symptom symptoms allergy allergies"
    " supplement supplements vitamin vitamins nutrition nutritional injury injuries"
    " allergic condition illness disease pain sleep stress anxiety mental therapy medication"
    " pregnant pregnancy injury diabetes diabetic blood heart intolerance intolerant"
    " disability accessibility wheelchair",
    "money": "money budget budgets cost costs price prices pricing expensive cheap affordable"
    " save saving savings invest investing investment investments stock stocks crypto bank"
    " loan debt tax taxes retirement spend spending luxury luxurious frugal discount finance"
    " financial",
    "family": "family families kid kids child children son daughter parent parents baby"
    " toddler partner wife husband spouse friend friends wedding relationship",
    "pets": "pet pets dog dogs cat cats puppy kitten vet",
    "learning": "learn learning study studying student students school university college"
    " course courses class classes exam exams teacher tutor lesson lessons degree homework",
    "language": "language languages english spanish french german chinese mandarin japanese"
    " italian portuguese korean arabic translate translation fluent native bilingual grammar",
    "tech": "code coding program programming software developer developers python javascript"
    " typescript java rust golang sql api apis library libraries framework frameworks bug"
    " bugs debug debugging function functions script scripts git linux windows mac macos"
    " terminal editor ide vim emacs database databases cloud server servers deploy app apps"
    " web frontend backend data computer laptop phone smartphone device devices",
    "ethics": "ethical ethics environment environmental eco sustainable"
    " sustainability green organic recycled recycling carbon animal animals"
    " vegan privacy safety",
    "vehicles": "car cars vehicle vehicles suv sedan electric ev hybrid truck motorcycle gas"
    " fuel mileage tesla",
    "beauty": "skincare makeup cosmetics hair haircut fragrance perfume shampoo nails spa",
    # How answers are written (the communication domain).
    "communication": "answer answers response responses reply replies explanation explanations"
    " length concise short brief long detailed verbose format formatting bullet bullets"
    " markdown tone formal jargon technical example examples summary summaries wording"
    " paragraph paragraphs emoji emojis",
}
